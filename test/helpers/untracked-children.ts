// Loaded into every test process (tap's node-arg). tap's processinfo adds its loader to every
// child process a test starts (servers, bcrypt workers, npm), for coverage, which this suite
// turns off; loading it costs each child about a second of CPU. So children start plain.
const spawnHooks = (globalThis as Record<symbol, { listeners?: unknown[] } | undefined>)[Symbol.for('process-on-spawn@*:singletonId')]
if (spawnHooks?.listeners) spawnHooks.listeners.length = 0
delete process.env.NODE_OPTIONS
