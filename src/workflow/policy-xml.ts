// The policy element of the key attestation XML (spec multi-authorization §2.2, Annex B): what level-5
// tasks show approvers in `keyAttributes` — key status and the four rules, times in seconds.
import { RULE_NAMES, asPolicy, type Rule } from './policy.ts';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
const XML_NAME: Record<string, string> = { ruleUse: 'rule_use', ruleBlock: 'rule_block', ruleUnblock: 'rule_unblock', ruleModify: 'rule_modify' };

function ruleXml(name: string, rule: Rule | null, pad: string): string {
  if (!rule) return '';
  let x = `${pad}<${name}>\n`;
  for (const t of rule.tokens) {
    x += `${pad}  <token name="${esc(t.name)}">\n${pad}    <timelock>${t.timelock}</timelock>\n${pad}    <timeout>${t.timeout}</timeout>\n`;
    for (const g of t.groups) {
      x += `${pad}    <group name="${esc(g.name)}">\n${pad}      <quorum>${g.quorum}</quorum>\n`;
      for (const a of g.approvals) x += `${pad}      <approval type="${esc(a.type)}" name="${esc(a.name ?? '')}">${esc(a.value)}</approval>\n`;
      x += `${pad}    </group>\n`;
    }
    x += `${pad}  </token>\n`;
  }
  return x + `${pad}</${name}>\n`;
}

/** `<policy>…</policy>` for a key with a policy, '' for a plain key. */
export function policyXml(stored: unknown, pad = '  '): string {
  const p = asPolicy(stored);
  if (!p) return '';
  let x = `${pad}<policy>\n${pad}  <key_status>\n${pad}    <blocked>${p.keyStatus?.blocked === true}</blocked>\n${pad}  </key_status>\n`;
  for (const r of RULE_NAMES) x += ruleXml(XML_NAME[r], p[r], pad + '  ');
  return x + `${pad}</policy>\n`;
}
