// The quorum engine (spec multi-authorization §4.8): tokens OR-combined, groups AND-combined, quorum over
// distinct approvers, approvals counted for a token only when given before its time-out, time-locks per
// token (1.16.1 fix). Pure: the engine feeds it the decisions recorded so far and the clock.
import { approverId, satisfiedWithoutApprovals, type Rule } from './policy.ts';

export interface Decisions {
  /** Approver identity (Base64 SPKI) → approval time (seconds). */
  approved: Map<string, number>;
  rejected: Set<string>;
}

export type Evaluation =
  | { state: 'approved'; executeAt: number }
  | { state: 'pending'; notYetApprovedBy: string[]; expiresAt: number | null }
  | { state: 'rejected' }
  | { state: 'expired' };

/**
 * Evaluates a rule at `now` for a request whose timestamp is `t0` (both in seconds).
 * approved: some token reached quorum in time (executeAt = earliest t0 + time-lock among those);
 * pending: some token can still be reached; rejected: rejections made every token unreachable;
 * expired: some token was reachable but its time-out passed.
 */
export function evaluate(rule: Rule | null, d: Decisions, t0: number, now: number): Evaluation {
  if (satisfiedWithoutApprovals(rule)) return { state: 'approved', executeAt: t0 };
  let executeAt: number | null = null;
  const open = new Set<string>();
  let expiresAt: number | null = 0;
  let anyOpen = false;
  let anyTimedOut = false;
  for (const token of rule?.tokens ?? []) {
    const deadline = token.timeout > 0 ? t0 + token.timeout : null;
    const countsFor = (id: string) => {
      const at = d.approved.get(id);
      return at !== undefined && (deadline === null || at <= deadline);
    };
    const quorate = token.groups.every((g) => new Set(g.approvals.map(approverId).filter(countsFor)).size >= g.quorum);
    if (quorate) {
      const at = t0 + token.timelock;
      executeAt = executeAt === null ? at : Math.min(executeAt, at);
      continue;
    }
    const reachable = token.groups.every((g) => new Set(g.approvals.map(approverId).filter((id) => !d.rejected.has(id))).size >= g.quorum);
    if (!reachable) continue;
    if (deadline !== null && now > deadline) {
      anyTimedOut = true;
      continue;
    }
    anyOpen = true;
    expiresAt = deadline === null || expiresAt === null ? null : Math.max(expiresAt, deadline);
    for (const g of token.groups) for (const a of g.approvals) {
      const id = approverId(a);
      if (!d.approved.has(id) && !d.rejected.has(id)) open.add(id);
    }
  }
  if (executeAt !== null) return { state: 'approved', executeAt };
  if (anyOpen) return { state: 'pending', notYetApprovedBy: [...open], expiresAt };
  return anyTimedOut ? { state: 'expired' } : { state: 'rejected' };
}

/** The latest time-out of a rule's tokens (seconds after t0), or null when some token never times out. */
export function lastTimeout(rule: Rule | null): number | null {
  let max = 0;
  for (const t of rule?.tokens ?? []) {
    if (t.timeout === 0) return null;
    max = Math.max(max, t.timeout);
  }
  return max;
}

/** Can `approver` still count for some token at `now` (listed, and that token not timed out)? */
export function mayApprove(rule: Rule | null, approver: string, t0: number, now: number): boolean {
  return (rule?.tokens ?? []).some(
    (t) => (t.timeout === 0 || now <= t0 + t.timeout) && t.groups.some((g) => g.approvals.some((a) => approverId(a) === approver)),
  );
}
