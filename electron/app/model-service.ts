// Settings › Model and `mnemo models`: list the models with their size, licence, speed here and the
// recommendation; switch to one (the app loads it before dropping the old one, remembers the choice,
// then re-amortizes every vault for it in the background, with progress); build one, with progress
// and cancel; probe its speed. One build at a time; a new switch supersedes a running one.
import type { ModelBuildProgress, ModelChoice, ModelSpeed, ModelSwitchProgress } from "../shared/models.js";
import { AppError } from "../shared/errors.js";
import type { MnemoApp } from "./app.js";
import { reamortizeStale } from "./ask.js";
import { startBuild, type BuildCommand, type RunningBuild } from "./model-build.js";
import { bundlesDir, listModels, modelDir, thisMachine, writeChoice, CATALOG } from "./models.js";
import { cacheDir } from "./paths.js";
import { cachedProbe, probeSpeed } from "./speed.js";

export interface ModelServiceHooks {
  onBuild?: (p: ModelBuildProgress) => void;
  onSwitch?: (p: ModelSwitchProgress) => void;
  /** Tests and packaged apps replace the builder's command (model-build.ts buildCommand). */
  buildCommand?: (name: string) => BuildCommand;
}

export class ModelService {
  private build: RunningBuild | null = null;
  private switchGeneration = 0;
  /** The running re-amortization after a switch (awaited by tests and by close). */
  switching: Promise<void> = Promise.resolve();

  constructor(
    private readonly app: MnemoApp,
    private readonly hooks: ModelServiceHooks = {},
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  private threads(): number {
    return this.app.config.threads ?? 0;
  }

  async list(): Promise<ModelChoice[]> {
    const probeOf = (dir: string) => cachedProbe(cacheDir(this.env), dir, this.threads()).catch(() => null);
    return listModels(bundlesDir(this.env), this.app.config.bundleDir, thisMachine(this.app.config.provider), probeOf);
  }

  /** Switches the app to a built model and remembers it for the CLI, server and desktop app alike. */
  async use(name: string): Promise<ModelChoice> {
    const dir = modelDir(name, bundlesDir(this.env));
    const choice = (await this.list()).find((m) => m.dir === dir);
    if (!choice || choice.state !== "ready")
      throw new AppError(
        "MODEL_NOT_BUILT",
        `${choice?.label ?? name} is not built yet: build it in Settings › Model, or run ` +
          `\`${choice?.build ?? `npm run setup -- --model ${name}`}\``,
      );
    const model = await this.app.configure({ bundleDir: dir }); // a bad bundle throws here, the old stays
    await writeChoice(this.app.config.dataDir, name);
    const generation = ++this.switchGeneration;
    this.switching = this.switching.then(() => this.reamortizeAll(name, generation, model.manifest.mac !== undefined));
    return { ...choice, inUse: true };
  }

  /** Every vault's chunks amortized for the new bundle, a batch at a time; stops when superseded. */
  private async reamortizeAll(name: string, generation: number, hasMemory: boolean): Promise<void> {
    const report = (p: Omit<ModelSwitchProgress, "model">) => this.hooks.onSwitch?.({ model: name, ...p });
    try {
      if (!hasMemory) return;
      for (const { id } of await this.app.listVaults()) {
        if (generation !== this.switchGeneration) return;
        const model = await this.app.model();
        const vault = await this.app.vault(id);
        const total = vault.store.staleCount(model.manifest.id);
        if (!total) continue;
        report({ vaultId: id, done: 0, total, finished: false });
        await reamortizeStale(vault, model, (done) => report({ vaultId: id, done, total, finished: false }));
      }
    } catch (e) {
      this.app.config.onWarning?.(`re-reading the vaults for ${name}: ${(e as Error).message}`);
    } finally {
      if (generation === this.switchGeneration) report({ vaultId: null, done: 0, total: 0, finished: true });
    }
  }

  /** Builds a catalog model; resolves with the final state (done, failed or cancelled). */
  async startBuild(name: string): Promise<ModelBuildProgress> {
    if (this.build) throw new AppError("BUILD_RUNNING", `${this.build.name} is being built; wait or cancel it first`);
    if (!CATALOG.some((m) => m.name === name))
      throw new AppError("INVALID_ARGUMENT", `setup does not know how to build "${name}" (mnemo models list)`);
    const onProgress = (p: ModelBuildProgress) => this.hooks.onBuild?.(p);
    const run = this.hooks.buildCommand
      ? startBuild(name, onProgress, this.hooks.buildCommand(name))
      : startBuild(name, onProgress);
    this.build = run;
    try {
      return await run.done;
    } finally {
      this.build = null;
    }
  }

  cancelBuild(name: string): boolean {
    if (this.build?.name !== name) return false;
    this.build.cancel();
    return true;
  }

  async probe(name: string): Promise<ModelSpeed> {
    const dir = modelDir(name, bundlesDir(this.env));
    return probeSpeed(cacheDir(this.env), dir, this.threads());
  }

  async close(): Promise<void> {
    this.switchGeneration++;
    this.build?.cancel();
    await this.switching;
  }
}
