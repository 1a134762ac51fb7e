// Steps per second of a worker over its recent work: inversion and denoising steps divided by the
// time spent in jobs that ended in the last minute (and the job running now).
const WINDOW_MS = 60_000;

export class StepRate {
  private readonly done: Array<{ end: number; steps: number; seconds: number }> = [];
  private running: { start: number; steps: number } | undefined;

  jobStarted(now = Date.now()): void {
    this.running = { start: now, steps: 0 };
  }
  step(): void {
    if (this.running) this.running.steps++;
  }
  jobEnded(now = Date.now()): void {
    if (!this.running) return;
    this.done.push({ end: now, steps: this.running.steps, seconds: (now - this.running.start) / 1000 });
    this.running = undefined;
  }
  perSecond(now = Date.now()): number {
    while (this.done.length > 0 && now - this.done[0]!.end > WINDOW_MS) this.done.shift();
    let steps = 0;
    let seconds = 0;
    for (const d of this.done) {
      steps += d.steps;
      seconds += d.seconds;
    }
    if (this.running) {
      steps += this.running.steps;
      seconds += (now - this.running.start) / 1000;
    }
    return seconds > 0 ? steps / seconds : 0;
  }
}
