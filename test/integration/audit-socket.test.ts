/**
 * Two audit devices on a real cluster: the file device and `audit.socket` shipping to a TCP
 * receiver on the cluster network (busybox nc in the helper image, started by hand before the
 * nodes unseal: OpenBao tests a declared device then). The receiver gets the entries; stopped, it
 * blocks nothing: requests keep succeeding through the file device, and `health` stays healthy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureToolboxImage } from '../../src/audit/toolbox.js';
import { networkName } from '../../src/spec/names.js';
import { docker, eventually, removeClusterResources, TestCluster } from '../helpers/cluster.js';

const cluster = new TestCluster({
  name: 'vctl-au-socket',
  apiPortBase: 19730,
  audit: { socket: { address: 'shipper:5140' } },
});
const RECEIVER = 'vctl-au-socket-shipper';

async function received(): Promise<string> {
  const r = docker.getContainer(RECEIVER);
  const exec = await r.exec({ Cmd: ['/bin/busybox', 'cat', '/tmp/ship.log'], AttachStdout: true });
  const stream = await exec.start({});
  const chunks: Buffer[] = [];
  await new Promise((res) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', res);
  });
  return Buffer.concat(chunks).toString();
}

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  await docker
    .getContainer(RECEIVER)
    .remove({ force: true })
    .catch(() => undefined);
  await cluster.up();
  const image = await ensureToolboxImage(cluster.runtime);
  const c = await docker.createContainer({
    name: RECEIVER,
    Image: image,
    Entrypoint: ['/bin/busybox'],
    Cmd: ['sh', '-c', 'while true; do nc -l -p 5140 >> /tmp/ship.log; done'],
    Labels: { 'io.vaultctl.cluster': cluster.name },
    HostConfig: { NetworkMode: networkName(cluster.spec) },
    NetworkingConfig: { EndpointsConfig: { [networkName(cluster.spec)]: { Aliases: ['shipper'] } } },
  });
  await c.start();
  await cluster.init();
});

afterAll(async () => {
  await docker
    .getContainer(RECEIVER)
    .remove({ force: true })
    .catch(() => undefined);
  await cluster.destroy();
});

describe('a second audit device (socket)', () => {
  it('ships entries; the receiver gone, requests keep succeeding through the file device', async () => {
    const api = cluster.api(0);
    await api.kvPut('secret', 'vctl-au-socket/shipped', { v: 1 });
    await eventually(async () => expect(await received()).toContain('vctl-au-socket/shipped'), 10_000);

    await docker.getContainer(RECEIVER).stop({ t: 0 });
    let failed = 0;
    for (let i = 0; i < 50; i++)
      await api.kvPut('secret', `vctl-au-socket/after-${i}`, { i }).catch(() => failed++);
    expect(failed).toBe(0);
    expect((await api.kvGet('secret', 'vctl-au-socket/after-49'))?.data).toEqual({ i: 49 });
    const h = await cluster.cli(['health']);
    expect(h.exitCode, h.stdout).toBe(0);
  });
});
