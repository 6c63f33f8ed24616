// Terminal progress for ingest runs: a cli-progress bar on a TTY, one line per document otherwise
// (logs, CI). Everything goes to stderr so stdout stays the command's result.
import { SingleBar } from "cli-progress";
import type { DocumentOutcome, IngestProgress } from "../shared/api.js";

export class IngestReporter {
  private bar: SingleBar | undefined;
  private readonly tty = process.stderr.isTTY === true;

  constructor(private readonly quiet = false) {}

  progress = (p: IngestProgress): void => {
    if (this.quiet || !this.tty) return;
    const chunks = p.current && p.current.chunksTotal ? ` ${p.current.chunksDone}/${p.current.chunksTotal} chunks` : "";
    const payload = {
      doc: p.current
        ? `${p.current.stage} ${p.current.name}${chunks}`
        : p.reindex
          ? `indexing for meaning search ${p.reindex.done}/${p.reindex.total} chunks`
          : "",
    };
    if (!this.bar) {
      this.bar = new SingleBar(
        {
          format: " {bar} {value}/{total} documents | {doc}",
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
          barsize: 24,
        },
        undefined,
      );
      this.bar.start(Math.max(p.total, 1), p.done, payload);
    }
    this.bar.setTotal(Math.max(p.total, 1));
    this.bar.update(p.done, payload);
  };

  outcome = (o: DocumentOutcome): void => {
    if (this.quiet) return;
    const line =
      o.result === "ready"
        ? `added ${o.name} (${o.chunks} chunks)${o.message ? `: ${o.message}` : ""}`
        : o.result === "error"
          ? `failed ${o.name}: ${o.message}`
          : o.result === "duplicate"
            ? `skipped ${o.name}: ${o.message}`
            : o.result === "skipped"
              ? `skipped ${o.name}: ${o.message}`
              : o.result === "unchanged"
                ? ""
                : `${o.result} ${o.name}`;
    if (!line) return;
    process.stderr.write((this.tty && this.bar ? "\r\x1b[2K" : "") + line + "\n");
  };

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
