export { User } from './user.js'
export { Post } from './post.js'
export { Vote } from './vote.js'
export { VoteCount } from './vote-count.js'
