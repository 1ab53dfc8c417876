import { windowMilliseconds, type FeedPage } from '../../db/queries/feeds.js'
import type { PostOut } from '../../db/queries/posts.js'
import type { ChangeEvent } from '../../db/queries/stream.js'
import { SizedLru } from '../../lib/sized-lru.js'
import type { Sort, Window } from '../../schemas/posts.js'

/** A feed's first page, as the cache keeps it: no search, cursor, skip, owner or `voted`. */
export interface FirstPage {
  sort: Sort
  t: Window
  limit: number
}

export interface Cached<V> {
  value: V
  /** When it stops being exact (a post leaves or enters a feed's window), in ms since the epoch. */
  expiresAt: number
}

export type CachedPage = Cached<FeedPage> & { page: FirstPage }

/**
 * What a value is taken to weigh in memory, from its JSON: its objects and strings, the body
 * made of it once it is sent, and the map entries; a character is two bytes outside Latin-1.
 * (Measured on posts, it says more than they take.)
 */
export function weigh (value: unknown): number {
  const json = JSON.stringify(value)
  return 3 * json.length * (/[^\x20-\xff]/.test(json) ? 2 : 1) + 256
}

export const pageKey = ({ sort, t, limit }: FirstPage) => `${sort} ${t} ${limit}`

/**
 * Until the first of its posts leaves the page's window, or `arrival` (a post dated later
 * comes into it); at once for a post dated past what Date can read.
 */
export function pageExpiry (page: FirstPage, value: FeedPage, arrival: number): number {
  const windowMs = windowMilliseconds(page.t)
  if (windowMs === undefined) return Infinity
  let expiresAt = arrival
  for (const { Post } of value.posts) expiresAt = Math.min(expiresAt, Date.parse(Post.created_at) + windowMs)
  return Number.isNaN(expiresAt) ? 0 : expiresAt
}

/** Whether a vote count's change may reorder a page, or bring a post into it. */
function votesReorder (page: FirstPage, value: FeedPage, postId: number, votes: number): boolean {
  if (page.sort === 'new') return false
  // `hot` ranks by votes and age, which an event does not carry: any count may move a post.
  if (page.sort === 'hot') return true
  if (value.posts.some(post => post.Post.id === postId)) return true
  // A post below the page can enter it only by reaching its lowest count.
  return value.posts.length > 0 && votes >= value.posts.at(-1)!.votes
}

const holds = (value: FeedPage, postId: number) => value.posts.some(post => post.Post.id === postId)

/**
 * The posts and first pages held, within `maxBytes`, and what each change does to them: a
 * vote count is patched in place where that is exact, anything it may change is dropped.
 */
export class HeldReads {
  // Pages are few but large: they get a quarter of the memory, so posts are never crowded out by them.
  readonly posts: SizedLru<number, Cached<PostOut>>
  readonly pages: SizedLru<string, CachedPage>
  /** Moves on at every change: a fill that began before one is not kept. */
  generation = 0
  /**
   * When this process last wrote to posts or votes (performance.now()): a read of the feed begun
   * before may still tell of an older count after the write's own fill.
   */
  wroteAt = 0

  constructor (readonly maxBytes: number) {
    this.posts = new SizedLru(maxBytes - Math.floor(maxBytes / 4))
    this.pages = new SizedLru(Math.floor(maxBytes / 4))
  }

  get entries (): number { return this.posts.size + this.pages.size }
  get bytes (): number { return this.posts.bytes + this.pages.bytes }

  dropAll (): void {
    this.generation++
    this.posts.clear()
    this.pages.clear()
  }

  /** The change feed's events, in order. */
  heard (events: ChangeEvent[]): void {
    this.generation++
    for (const event of events) {
      switch (event.type) {
        case 'post.votes':
          this.#votes(event.postId, event.votes!)
          break
        case 'post.created':
          this.pages.clear()
          break
        case 'post.updated':
          this.posts.delete(event.postId)
          this.pages.clear()
          break
        case 'post.deleted':
          this.posts.delete(event.postId)
          this.pages.deleteWhere(({ value }) => holds(value, event.postId))
          break
      }
    }
  }

  /** This process wrote to posts (to `postId`'s, or votes on it): what it may have changed goes. */
  wrote (postId?: number): void {
    this.generation++
    this.wroteAt = performance.now()
    if (postId !== undefined) this.posts.delete(postId)
    this.pages.clear()
  }

  #votes (postId: number, votes: number): void {
    const entry = this.posts.peek(postId)
    if (entry) entry.value = { ...entry.value, votes }
    this.pages.deleteWhere(({ page, value }) => votesReorder(page, value, postId, votes))
    for (const entry of this.pages.values()) {
      if (entry.page.sort !== 'new' || !holds(entry.value, postId)) continue
      entry.value = { ...entry.value, posts: entry.value.posts.map(post => post.Post.id === postId ? { ...post, votes } : post) }
    }
  }
}
