/** The PerfRL status bar item: shows a `StatusView` (see `statusText.ts`). */
import * as vscode from "vscode";

import { type StatusView } from "./statusText";

const BACKGROUNDS: Record<StatusView["severity"], vscode.ThemeColor | undefined> = {
  normal: undefined,
  warning: new vscode.ThemeColor("statusBarItem.warningBackground"),
  error: new vscode.ThemeColor("statusBarItem.errorBackground"),
};

export class PerfrlStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor(clickCommand: string) {
    this.item = vscode.window.createStatusBarItem("perfrl.status", vscode.StatusBarAlignment.Left, 10);
    this.item.name = "PerfRL";
    this.item.command = clickCommand;
  }

  show(view: StatusView): void {
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = BACKGROUNDS[view.severity];
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
