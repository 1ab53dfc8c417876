/** The seed's data sizes, shared by bench/seed.ts and bench/run.ts. */
export interface Preset {
  users: number
  posts: number
  votes: number
}

export const PRESETS = {
  small: { users: 1_000, posts: 10_000, votes: 100_000 },
  large: { users: 100_000, posts: 1_000_000, votes: 10_000_000 }
} satisfies Record<string, Preset>

export type PresetName = keyof typeof PRESETS

export const isPresetName = (name: string): name is PresetName => Object.hasOwn(PRESETS, name)

/** The password the seed gives every user (`user<id>@example.com`). */
export const BENCH_PASSWORD = 'password123'
