/**
 * The volume helper's script (pure): shared by the Docker runtime, which runs it before it creates
 * a container, and the compose file's one-shot service.
 */

/** Where the helper sees the i-th volume. */
export function helperTarget(i: number): string {
  return `/v/${i}`;
}

/**
 * chown -R of every mounted volume to uid:gid, and its top directory 0700: raft data and audit
 * logs are for the service alone (`bao operator diagnose` warns about a 0755 raft folder).
 */
export function chownScript(uid: number, gid: number, count: number): string {
  const dirs = Array.from({ length: count }, (_, i) => helperTarget(i)).join(' ');
  return `chown -R ${uid}:${gid} ${dirs} && chmod 0700 ${dirs}`;
}
