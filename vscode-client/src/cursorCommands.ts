/**
 * Palette commands that act on the function under the cursor by calling the server's
 * `workspace/executeCommand` (docs/lsp-protocol.md). The server's own command ids
 * (`perfrl.optimizeFunction`, ...) are registered by the language client for code actions and
 * code lenses, so these palette commands use their own ids.
 */
import * as vscode from "vscode";
import { ExecuteCommandRequest, type LanguageClient } from "vscode-languageclient/node";

/** Server command and arguments for the cursor position: `[uri, 0-based line]`. */
export function cursorCommand(
  command: "perfrl.optimizeFunction" | "perfrl.showReport",
  editor: vscode.TextEditor,
): { command: string; arguments: [string, number] } {
  return { command, arguments: [editor.document.uri.toString(), editor.selection.active.line] };
}

/**
 * Runs a server command on the function under the cursor; tells the user why when there is no
 * Python editor or no running server. Returns the server's answer (undefined when not sent).
 */
export async function runAtCursor(
  client: LanguageClient | undefined,
  command: "perfrl.optimizeFunction" | "perfrl.showReport",
): Promise<unknown> {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined || editor.document.languageId !== "python") {
    void vscode.window.showWarningMessage("PerfRL: put the cursor inside a Python function first.");
    return undefined;
  }
  if (editor.document.uri.scheme !== "file") {
    void vscode.window.showWarningMessage(
      "PerfRL: save the file into your project first (PerfRL runs the project's tests).",
    );
    return undefined;
  }
  if (client === undefined) {
    const choice = await vscode.window.showErrorMessage(
      "PerfRL: the language server is not running.",
      "Restart Server",
      "Show Log",
    );
    if (choice === "Restart Server") {
      await vscode.commands.executeCommand("perfrl.restartServer");
    } else if (choice === "Show Log") {
      await vscode.commands.executeCommand("perfrl.showLog");
    }
    return undefined;
  }
  try {
    return await client.sendRequest(ExecuteCommandRequest.type, cursorCommand(command, editor));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    void vscode.window.showErrorMessage(`PerfRL: ${message}`);
    return undefined;
  }
}
