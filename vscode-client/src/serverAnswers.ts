/** Reading the answers of the server's commands (docs/lsp-protocol.md). Pure. */

/**
 * File of the report in a `perfrl.showReport` answer (`{uri, markdown, path}`), or undefined
 * when the answer has none (no result for the function yet: the server said so to the user).
 */
export function reportPath(answer: unknown): string | undefined {
  if (typeof answer !== "object" || answer === null) {
    return undefined;
  }
  const path = (answer as Record<string, unknown>).path;
  return typeof path === "string" && path !== "" ? path : undefined;
}
