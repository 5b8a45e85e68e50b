// The DB-driven scheduler (spec multi-authorization §3.3 "HsmRequestsTimerService"): every
// `general.hsmRequestsTimerServiceInterval` ms one pass expires overdue requests, executes approved ones
// whose time-lock has elapsed and recovers dead claims. All state is in the database and every
// transition is a conditional update, so passes may overlap, run on several nodes, or resume after a
// restart without executing anything twice.
import type { Logger } from 'pino';
import type { Workflow } from './engine.ts';

export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private cleanupTimer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;

  constructor(
    private readonly workflow: Workflow,
    private readonly logger: Logger,
    private readonly intervalMs: number,
    private readonly cleanupIntervalMs: number,
  ) {}

  start(): void {
    this.stopped = false;
    if (this.intervalMs > 0) this.schedule(0);
    if (this.cleanupIntervalMs > 0) {
      this.cleanupTimer = setInterval(() => {
        this.workflow.tasks.deleteClosed().catch((err: unknown) => this.logger.warn({ err }, 'approval task cleanup failed'));
      }, this.cleanupIntervalMs);
      this.cleanupTimer.unref();
    }
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(() => {
      this.running = this.workflow
        .tick()
        .catch((err: unknown) => this.logger.warn({ err }, 'workflow scheduler pass failed; retrying at the next interval'))
        .finally(() => {
          this.running = null;
          if (!this.stopped) this.schedule(this.intervalMs);
        });
    }, delay);
    this.timer.unref();
  }

  /** Stops the timers and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.cleanupTimer) clearInterval(this.cleanupTimer);
    this.timer = null;
    this.cleanupTimer = null;
    await this.running;
  }
}
