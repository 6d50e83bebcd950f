/** Entry point: wires the status bar, the server controller and the commands. No logic here. */
import * as vscode from "vscode";

import { runAtCursor } from "./cursorCommands";
import { optimizeHottest, runWorkspaceCommand } from "./projectCommands";
import { reportPath } from "./serverAnswers";
import { ServerController } from "./serverController";
import { PerfrlStatusBar } from "./statusBar";

let controller: ServerController | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel("PerfRL", { log: true });
  const status = new PerfrlStatusBar("perfrl.showLog");
  controller = new ServerController(log, status);
  const server = controller;
  context.subscriptions.push(
    log,
    status,
    server,
    vscode.commands.registerCommand("perfrl.optimizeFunctionAtCursor", () =>
      runAtCursor(server.runningClient, "perfrl.optimizeFunction"),
    ),
    vscode.commands.registerCommand("perfrl.showReportAtCursor", async () => {
      // The server opens the Markdown file itself (window/showDocument); show it rendered too.
      const path = reportPath(await runAtCursor(server.runningClient, "perfrl.showReport"));
      if (path !== undefined) {
        await vscode.commands.executeCommand("markdown.showPreviewToSide", vscode.Uri.file(path));
      }
    }),
    vscode.commands.registerCommand("perfrl.profileWorkspace", () =>
      runWorkspaceCommand(server.runningClient, "perfrl.profileProject", []),
    ),
    vscode.commands.registerCommand("perfrl.optimizeHottestFunctions", () =>
      optimizeHottest(server.runningClient),
    ),
    vscode.commands.registerCommand("perfrl.restartServer", () => server.restart()),
    vscode.commands.registerCommand("perfrl.showLog", () => log.show()),
  );
  await server.watch();
  await server.start();
}

export async function deactivate(): Promise<void> {
  await controller?.stop();
  controller = undefined;
}
