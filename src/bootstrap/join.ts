/**
 * The followers join the leader's raft cluster and unseal; then the wait until every node is a
 * voter and autopilot sees them all healthy.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeHandle } from '../cluster/running.js';
import { apiScheme } from '../spec/names.js';
import { CONTAINER_API_PORT } from '../spec/schema.js';
import { tlsPaths } from '../tls/tls.js';
import type { RaftJoinTls } from '../vault/port.js';
import { type BootstrapContext, durationMs } from './bootstrap-context.js';
import { unsealWithStoredShares } from './init-leader.js';

/** Under mutual TLS a joining node shows the leader its own certificate (from its own tls dir). */
function nodeClientCert(
  ctx: BootstrapContext,
  n: NodeHandle,
): { clientCertPem?: string; clientKeyPem?: string } {
  if (!ctx.spec.tls.requireClientCert) return {};
  const dir = tlsPaths(ctx.state).nodeDir(n.name);
  if (!existsSync(join(dir, 'cert.pem'))) return {};
  return {
    clientCertPem: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    clientKeyPem: readFileSync(join(dir, 'key.pem'), 'utf8'),
  };
}

/**
 * Every follower joins and unseals. Each node's HCL has retry_join, so every follower joins by
 * itself; with an auto-unseal seal an explicit join as well saves the wait for retry_join's next
 * attempt (2 s apart), and its failure is not fatal (retry_join may have won the race).
 *
 * With Shamir there is no explicit join: the node joins when its unseal keys answer the leader's
 * challenge, and two joins on one sealed node (explicit and retry_join) can wedge it. OpenBao
 * 2.7.2 seen here: the explicit join's challenge took the keys and the node joined, retry_join
 * meanwhile fetched a challenge of its own, the next keys (the node still said sealed, its data
 * streaming in) waited for that retry_join to finish while holding the node's state lock, and
 * retry_join found the node initialised and ended without a word: every later request to the node,
 * seal-status included, hung ("waiting for raft retry join process to complete", then "returning
 * from raft join as the node is initialized"). Until retry_join has its challenge the node answers
 * "not initialized", which `unsealWithShares` waits through.
 */
export async function joinFollowers(ctx: BootstrapContext, leader: NodeHandle): Promise<void> {
  const { cluster, progress } = ctx;
  const followers = cluster.nodes.filter((n) => n.name !== leader.name);
  progress.step(`joining ${followers.map((n) => n.name).join(', ')}`);
  const leaderUrl = `${apiScheme(ctx.spec)}://${leader.name}:${CONTAINER_API_PORT}`;
  const joinTls = (n: NodeHandle): RaftJoinTls | undefined =>
    cluster.tls ? { caPem: cluster.tls.ca, serverName: leader.name, ...nodeClientCert(ctx, n) } : undefined;
  const joined = await Promise.all(
    followers.map(async (n) => {
      const s = await ctx.api(n).sealStatus();
      if (s.initialized && !s.sealed) return false;
      if (!ctx.auto) {
        await unsealWithStoredShares(ctx, n);
        return true;
      }
      if (!s.initialized) {
        await ctx
          .api(n)
          .raftJoin(leaderUrl, joinTls(n))
          .catch((err: Error) =>
            progress.debug(`explicit join: ${err.message}; relying on retry_join`, n.name),
          );
      }
      await ctx.waitOn(n, `${n.name} to join and auto-unseal`, async () => {
        const st = await ctx.api(n).sealStatus();
        return st.initialized && !st.sealed ? true : undefined;
      });
      return true;
    }),
  );
  ctx.record('join followers', joined.some(Boolean), `${followers.length} followers unsealed`);
  ctx.mark('followersJoined');
}

/**
 * Waits until every node is a raft voter under one leader, and autopilot reports them healthy.
 * Returns the voters' node ids.
 */
export async function waitForVoters(
  ctx: BootstrapContext,
  leaderNode: NodeHandle,
  stabilization?: string,
): Promise<string[]> {
  const { spec } = ctx;
  const stabilizationTime = stabilization ?? spec.raft.autopilot.serverStabilizationTime;
  const leader = ctx.api(leaderNode);
  const count = spec.nodes.length;
  ctx.progress.step(`waiting for ${count} voters (autopilot promotes after ${stabilizationTime})`);
  const servers = await ctx.waitOn(
    leaderNode,
    `all ${count} nodes to be raft voters`,
    async () => {
      const list = await leader.raftServers();
      const voters = list.filter((s) => s.voter);
      const leaders = list.filter((s) => s.leader);
      return voters.length === count && leaders.length === 1 ? list : undefined;
    },
    ctx.timeoutMs + durationMs(stabilizationTime),
  );
  // In the spec's order, not raft's (the order the followers happened to join in).
  const order = ctx.cluster.nodes.map((n) => n.name);
  const rank = (id: string) => (order.includes(id) ? order.indexOf(id) : order.length);
  const voters = servers
    .filter((s) => s.voter)
    .map((s) => s.node_id)
    .sort((a, b) => rank(a) - rank(b));
  // Voters alone are not the end: autopilot must also see every server healthy, so that
  // `vaultctl health` right after init reports the failure tolerance the cluster really has.
  const wantTolerance = Math.floor((count - 1) / 2);
  await ctx.waitOn(leaderNode, `autopilot to report ${count} healthy voters`, async () => {
    const ap = await leader.autopilotState();
    return ap.healthy && ap.failure_tolerance >= wantTolerance ? ap : undefined;
  });
  ctx.record('raft voters', 'waited', `${voters.join(', ')}; failure tolerance ${wantTolerance}`);
  ctx.mark('votersReady');
  return voters;
}
