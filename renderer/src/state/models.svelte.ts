// Settings › Model's state: the models (built or not, size, licence, speed here, recommended), a
// build in progress, the background re-reading of the vaults after a switch. Kept apart from the
// app state; after a switch it refreshes the app's model facts (modes, licences) through app.
import type { ModelBuildProgress, ModelChoice, ModelSwitchProgress } from "../../../electron/shared/models";
import { api } from "../lib/api";
import { app } from "./app.svelte";

export class ModelsState {
  list = $state<ModelChoice[]>([]);
  build = $state<ModelBuildProgress | null>(null);
  switching = $state<ModelSwitchProgress | null>(null);
  /** The model being loaded after "Use" (loading a bundle takes a few seconds). */
  pending = $state<string | null>(null);
  probing = $state<string | null>(null);
  private listening = false;

  async refresh(): Promise<void> {
    if (!this.listening) {
      this.listening = true;
      api.on((e) => {
        if (e.type === "models.build") {
          this.build = e.data;
          if (e.data.state !== "running") void this.refresh();
        } else if (e.type === "models.switch") this.switching = e.data.finished ? null : e.data;
      });
    }
    const list = await app.guard(() => api.call("models.list", {}));
    if (list) this.list = list;
  }

  async use(name: string): Promise<void> {
    this.pending = name;
    try {
      const done = await app.guard(() => api.call("models.use", { name }));
      if (!done) return;
      const info = await app.guard(() => api.call("model.info", {}));
      if (info) app.model = info;
      app.notice = null;
      await this.refresh();
    } finally {
      this.pending = null;
    }
  }

  startBuild(name: string): void {
    this.build = { name, state: "running", stage: "starting", line: "", fraction: 0 };
    void app
      .guard(() => api.call("models.build", { name }))
      .then((end) => {
        if (end) this.build = end;
      });
  }

  cancelBuild(name: string): Promise<unknown> {
    return app.guard(() => api.call("models.cancelBuild", { name }));
  }

  async probe(name: string): Promise<void> {
    this.probing = name;
    try {
      if (await app.guard(() => api.call("models.probe", { name }))) await this.refresh();
    } finally {
      this.probing = null;
    }
  }
}

export const models = new ModelsState();

const GB = 2 ** 30;
export const sizeText = (bytes: number) =>
  bytes >= GB ? `${(bytes / GB).toFixed(1)} GB` : `${Math.round(bytes / 2 ** 20)} MB`;

/** How fast a model starts and goes on answering here, in words. */
export function speedWords(m: ModelChoice): string {
  const s = m.speed;
  if (!s) return "Speed on this computer not measured yet.";
  const first = s.firstTokenMs < 1000 ? "under a second" : `about ${(s.firstTokenMs / 1000).toFixed(1)} s`;
  const how = /^\d{4}-/.test(s.measuredAt) ? "measured on this computer" : "estimated for this computer";
  return `Starts answering in ${first}, then ${Math.round(s.decodeTokS)} tokens a second (${how}).`;
}
