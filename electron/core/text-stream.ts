// Turns a growing list of token ids into text deltas that never take anything back: only the stable
// prefix is emitted (no half-built UTF-8 sequence from byte-fallback tokens, no trailing "\uFFFD").

export class TextStream {
  private ids: number[] = [];
  private emitted = "";

  constructor(private readonly decode: (ids: number[]) => string) {}

  /** Add one token; returns the new stable text (possibly ""). */
  push(id: number): string {
    this.ids.push(id);
    return this.take(this.decode(this.ids).replace(/\uFFFD+$/u, ""));
  }

  /** Everything left once generation ends (a dangling partial character becomes U+FFFD). */
  flush(): string {
    return this.take(this.decode(this.ids));
  }

  get text(): string {
    return this.emitted;
  }

  private take(full: string): string {
    if (!full.startsWith(this.emitted)) return ""; // decoder revised earlier text: wait for stability
    const delta = full.slice(this.emitted.length);
    this.emitted = full;
    return delta;
  }
}
