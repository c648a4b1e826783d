/**
 * The volume helper's script (pure): shared by the Docker runtime, which runs it before it creates
 * a container, and the compose file's one-shot service.
 */

/** Where the helper sees the i-th volume. */
export function helperTarget(i: number): string {
  return `/v/${i}`;
}

/** Where the compose helper sees the i-th bind-mounted host file or directory. */
export function bindTarget(i: number): string {
  return `/b/${i}`;
}

/**
 * chown -R of every mounted volume to uid:gid, and its top directory 0700: raft data and audit
 * logs are for the service alone (`bao operator diagnose` warns about a 0755 raft folder). With
 * `binds`, the bind-mounted state files too (their modes stay as they are: 0600 keys).
 */
export function chownScript(uid: number, gid: number, count: number, binds = 0): string {
  const dirs = Array.from({ length: count }, (_, i) => helperTarget(i)).join(' ');
  const files = Array.from({ length: binds }, (_, i) => bindTarget(i)).join(' ');
  const volumes = `chown -R ${uid}:${gid} ${dirs} && chmod 0700 ${dirs}`;
  return binds > 0 ? `${volumes} && chown -R ${uid}:${gid} ${files}` : volumes;
}
