/** A start-up failure whose message says all an operator needs: logged as one line, without a stack. */
export class StartupError extends Error {
  name = 'StartupError'
}
