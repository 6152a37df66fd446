/** A one-line status that rewrites itself in place on a terminal (and prints nothing elsewhere). */
export class StatusLine {
  private last = '';
  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  update(text: string): void {
    if (!this.out.isTTY) return;
    const width = this.out.columns ?? 120;
    const line = text.length > width - 1 ? `${text.slice(0, width - 2)}…` : text;
    this.out.write(`\r\x1b[2K${line}`);
    this.last = line;
  }

  /** Ends the status line so normal output continues below it. */
  done(): void {
    if (this.out.isTTY && this.last) this.out.write('\n');
    this.last = '';
  }
}
