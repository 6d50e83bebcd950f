/**
 * Palette commands for the whole workspace: "PerfRL: Profile" and "PerfRL: Optimize the N
 * Hottest Functions" call the server's `perfrl.profileProject` and `perfrl.optimizeHottest`
 * (docs/lsp-protocol.md). The server shows the results as lenses and messages; these only ask.
 */
import * as vscode from "vscode";
import { ExecuteCommandRequest, type LanguageClient } from "vscode-languageclient/node";

import { parseHottestCount } from "./hottestCount";

/** Sends one workspace command; tells the user when the server is not running or refuses. */
export async function runWorkspaceCommand(
  client: LanguageClient | undefined,
  command: "perfrl.profileProject" | "perfrl.optimizeHottest",
  args: unknown[],
): Promise<unknown> {
  if (client === undefined) {
    void vscode.window.showErrorMessage("PerfRL: the language server is not running.");
    return undefined;
  }
  try {
    return await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    void vscode.window.showErrorMessage(`PerfRL: ${message}`);
    return undefined;
  }
}

/** Asks how many hot functions to optimize (default 5), then starts them. */
export async function optimizeHottest(client: LanguageClient | undefined): Promise<unknown> {
  const answer = await vscode.window.showInputBox({
    title: "PerfRL: Optimize the N Hottest Functions",
    prompt: "How many of the hottest functions that tests call (1-50)?",
    value: "5",
    validateInput: (text) => (parseHottestCount(text) === undefined ? "a number from 1 to 50" : null),
  });
  const n = parseHottestCount(answer);
  return n === undefined ? undefined : runWorkspaceCommand(client, "perfrl.optimizeHottest", [n]);
}
