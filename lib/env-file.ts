/**
 * A `.env` file read as the course's server reads one (python-dotenv, through pydantic):
 * - `#` starts a comment only at the start of a line or after a space: `SECRET_KEY=ab#cd` and
 *   `KEY=#ab` are whole values;
 * - 'single quotes' keep their text (only \' and \\ are unescaped); "double quotes" take \n,
 *   \r, \t, \", \' and \\; either may span lines;
 * - `${NAME}` and `${NAME:-default}` in an unquoted or double-quoted value are an earlier
 *   variable of the file, else of `environment`;
 * - `export ` before a name is allowed; a line that sets nothing is passed over.
 */
export function parseEnvFile (text: string, environment: Record<string, string | undefined> = {}): Record<string, string> {
  const values: Record<string, string> = {}
  const expand = (value: string) => value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_match, name: string, fallback?: string) =>
    values[name] ?? environment[name] ?? fallback ?? '')
  const line = /^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*/gm
  let at = 0
  for (;;) {
    line.lastIndex = at
    const start = line.exec(text)
    if (start === null) break
    const name = start[1]!
    let rest = text.slice(line.lastIndex)
    let value: string
    const quote = rest[0]
    const closing = quote === '\'' ? /^'((?:[^'\\]|\\.)*)'/s : quote === '"' ? /^"((?:[^"\\]|\\.)*)"/s : undefined
    const quoted = closing?.exec(rest)
    if (quoted) {
      value = quote === '\'' ? quoted[1]!.replace(/\\([\\'])/g, '$1') : expand(unescape(quoted[1]!))
      rest = rest.slice(quoted[0].length)
    } else {
      const end = rest.search(/\r?\n|$/)
      value = expand(rest.slice(0, end).replace(/[ \t]+#.*$/, '').trim())
      rest = rest.slice(end)
    }
    values[name] = value
    // On to the next line (whatever follows a closing quote on its line is a comment).
    const next = rest.search(/\n/)
    at = text.length - rest.length + (next === -1 ? rest.length : next + 1)
  }
  return values
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', '\'': '\'' }
const unescape = (text: string) => text.replace(/\\(.)/gs, (match, char: string) => ESCAPES[char] ?? match)
