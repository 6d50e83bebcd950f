/**
 * Starts, stops and restarts the PerfRL language client. Every failure to start ends in an error
 * message with an action (never a silent failure) and a red status bar item.
 */
import * as os from "node:os";

import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  State,
} from "vscode-languageclient/node";

import {
  type InterpreterSource,
  type PathContext,
  type ResolvedInterpreter,
  resolveServerInterpreter,
} from "./interpreter";
import { runProbe } from "./probe";
import { onPythonInterpreterChanged, pythonExtensionInterpreter } from "./pythonExtension";
import { buildServerLaunch, installCommand, interpretProbe, type ProbeVerdict } from "./serverCommand";
import { adaptConfigurationItem, openSettingsCommand, SECTION, toWireSettings } from "./settings";
import { PerfrlStatusBar } from "./statusBar";
import { formatServerState, formatStatus, parseStatus } from "./statusText";

/** Notification the server sends when the model state or the job counts change. */
export const STATUS_NOTIFICATION = "perfrl/status";

export class ServerController implements vscode.Disposable {
  private client: LanguageClient | undefined;
  /** Where the running server's interpreter came from (a Python extension change restarts it). */
  private serverInterpreterSource: InterpreterSource | undefined;
  private transition: Promise<void> = Promise.resolve();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly status: PerfrlStatusBar,
  ) {}

  /** The running client, or undefined when the server is not running. */
  get runningClient(): LanguageClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  /** Watches settings and the Python extension's interpreter. Call once after construction. */
  async watch(): Promise<void> {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration(`${SECTION}.server.interpreter`)) {
          this.log.info("perfrl.server.interpreter changed: restarting the server");
          void this.restart();
        } else if (event.affectsConfiguration(SECTION)) {
          void this.pushConfiguration();
        }
      }),
      await onPythonInterpreterChanged(this.log, () => {
        // Unless the setting pins it, the server's interpreter follows the Python extension's.
        if (this.serverInterpreterSource !== undefined && this.serverInterpreterSource !== "setting") {
          this.log.info("The Python extension's interpreter changed: restarting the server");
          void this.restart();
        } else {
          void this.pushConfiguration();
        }
      }),
    );
  }

  /** Starts the server unless it runs; resolves once it runs or has failed (and said so). */
  start(): Promise<void> {
    return this.serialize(() => this.doStart());
  }

  /** Stops the server and starts it again, re-resolving the interpreter. */
  restart(): Promise<void> {
    return this.serialize(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  stop(): Promise<void> {
    return this.serialize(() => this.doStop());
  }

  dispose(): void {
    for (const disposable of this.disposables) {
      disposable.dispose();
    }
    void this.stop();
  }

  // Start/stop/restart requests queue up so that two restarts never race on one client.
  private serialize(step: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(step, step);
    return this.transition;
  }

  private pathContext(): PathContext {
    return { home: os.homedir(), workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath };
  }

  private async doStart(): Promise<void> {
    if (this.client !== undefined) {
      return;
    }
    this.status.show(formatServerState("starting"));
    const folder = vscode.workspace.workspaceFolders?.[0];
    const context = this.pathContext();
    const fromPythonExtension = await pythonExtensionInterpreter(this.log, folder?.uri);
    const configured = (): ResolvedInterpreter =>
      resolveServerInterpreter(
        vscode.workspace.getConfiguration(SECTION, folder?.uri).get("server.interpreter"),
        fromPythonExtension,
        context,
      );
    const interpreter = configured();
    this.log.info(`Server interpreter: ${interpreter.path} (from ${interpreter.source})`);
    this.serverInterpreterSource = interpreter.source;
    const verdict = interpretProbe(
      await runProbe(interpreter.path, { cwd: folder?.uri.fsPath }),
      interpreter.path,
    );
    const nowConfigured = configured();
    if (nowConfigured.path !== interpreter.path) {
      // The setting changed while the probe ran (at start-up the user's settings can reach the
      // extension host after activation): the change event has queued a restart with the new
      // interpreter, and an error about the old one would only mislead.
      this.log.info(`perfrl.server.interpreter changed to ${nowConfigured.path} during the probe`);
      return;
    }
    if (!verdict.ok) {
      this.reportUnusableInterpreter(verdict, interpreter.path);
      return;
    }
    this.log.info(`Python ${verdict.version} at ${verdict.executable} has the PerfRL server`);

    const launch = buildServerLaunch(interpreter.path);
    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      // No `transport`: TransportKind.stdio would append `--stdio`, which `-P -m perfrl.lsp` does not
      // take; without it the client still talks LSP over the process's stdin/stdout.
      options: { cwd: folder?.uri.fsPath, env: { ...process.env, PYTHONUNBUFFERED: "1" } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file", language: "python" }],
      outputChannel: this.log,
      initializationOptions: { [SECTION]: await this.wireSettings(folder?.uri) },
      middleware: {
        workspace: {
          configuration: async (params, token, next) => {
            const answer = await next(params, token);
            if (!Array.isArray(answer)) {
              return answer;
            }
            return Promise.all(
              params.items.map(async (item, index) => {
                const scope = item.scopeUri !== undefined ? vscode.Uri.parse(item.scopeUri) : folder?.uri;
                return adaptConfigurationItem(
                  item.section,
                  answer[index],
                  await pythonExtensionInterpreter(this.log, scope),
                  this.pathContext(),
                );
              }),
            );
          },
        },
      },
    };
    const client = new LanguageClient("perfrl", "PerfRL", serverOptions, clientOptions);
    client.onDidChangeState((event) => {
      if (event.newState === State.Stopped && this.client === client) {
        this.status.show(formatServerState("stopped"));
      }
    });
    // Registered before start so that the status sent during initialization is not missed.
    let statusSeen = false;
    client.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
      const parsed = parseStatus(params);
      if (parsed === undefined) {
        this.log.warn(`Ignored a malformed ${STATUS_NOTIFICATION}: ${JSON.stringify(params)}`);
        return;
      }
      statusSeen = true;
      this.status.show(formatStatus(parsed));
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      this.client = undefined;
      const message = `The PerfRL language server failed to start: ${String(error)}`;
      this.log.error(message);
      this.status.show(formatServerState("failed", message));
      void this.offerActions(message, ["Show Log", "Open Settings"]);
      return;
    }
    if (!statusSeen) {
      this.status.show(formatServerState("running"));
    }
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) {
      return;
    }
    try {
      // The timeout bounds the shutdown handshake; the process is killed after it.
      await client.stop(5000);
    } catch (error) {
      this.log.warn(`Stopping the server: ${String(error)}`);
    }
    this.status.show(formatServerState("stopped"));
  }

  private async wireSettings(scope: vscode.Uri | undefined): Promise<Record<string, unknown>> {
    // JSON round trip: the configuration object also carries methods (get, has, update...).
    const raw: unknown = JSON.parse(JSON.stringify(vscode.workspace.getConfiguration(SECTION, scope)));
    return toWireSettings(raw, await pythonExtensionInterpreter(this.log, scope), this.pathContext());
  }

  /** Tells the server the settings changed; the payload also carries them for push-style servers. */
  private async pushConfiguration(): Promise<void> {
    const client = this.runningClient;
    if (client === undefined) {
      return;
    }
    const settings = await this.wireSettings(vscode.workspace.workspaceFolders?.[0]?.uri);
    await client.sendNotification(DidChangeConfigurationNotification.type, {
      settings: { [SECTION]: settings },
    });
  }

  private reportUnusableInterpreter(verdict: Exclude<ProbeVerdict, { ok: true }>, interpreter: string): void {
    this.log.error(verdict.message);
    this.status.show(formatServerState("failed", verdict.message));
    const actions =
      verdict.problem === "not_installed"
        ? ["Copy Install Command", "Open Settings", "Show Log"]
        : ["Open Settings", "Show Log"];
    void this.offerActions(verdict.message, actions, interpreter);
  }

  private async offerActions(message: string, actions: string[], interpreter?: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(message, ...actions);
    if (choice === "Copy Install Command" && interpreter !== undefined) {
      await vscode.env.clipboard.writeText(installCommand(interpreter));
      void vscode.window.showInformationMessage(
        "Install command copied. Run it in a terminal, then run PerfRL: Restart Server.",
      );
    } else if (choice === "Open Settings") {
      await vscode.commands.executeCommand(openSettingsCommand(vscode.env.remoteName), {
        query: `${SECTION}.server.interpreter`,
      });
    } else if (choice === "Show Log") {
      this.log.show();
    }
  }
}
