import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['node_modules', '.data', '.tap', 'coverage', '.scratch', 'dist', '.test-build']
  }),
  {
    // Migration classes are named by the MikroORM CLI: Migration<timestamp>_<name>.
    files: ['db/migrations/*.ts'],
    rules: { camelcase: 'off' }
  }
]
