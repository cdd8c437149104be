import type { Socket } from 'node:net';

/** A CONNECT is a few hundred bytes: a client that has not logged in may send at most this much in one packet. */
export const MAX_CONNECT_PACKET_BYTES = 64 * 1024;
/**
 * Any packet of a logged-in device. Above the gateway's 1 MiB batch limit, so a batch a little over it still gets
 * its typed BATCH_TOO_LARGE ack; far below MQTT's 256 MB, which the broker would otherwise buffer per connection.
 */
export const MAX_PACKET_BYTES = 4 * 1024 * 1024;

/** What the guard uses of an aedes client: its mqtt-packet parser and whether it has logged in. */
interface GuardedClient {
  connected?: boolean;
  _parser?: { packet: { length: number }; parse(buf: Buffer): number };
}

/**
 * aedes (1.2) has no maximum packet size: its parser buffers a packet until the length its header declares has
 * arrived, so one unauthenticated socket could hold 256 MB. This wraps the client's parser: as soon as a header
 * declares more than the limit, the connection is closed and `refused` called, before the body is buffered.
 * Throws if aedes no longer exposes the parser, so an upgrade cannot silently drop the guard.
 */
export function limitPacketSize(client: unknown, socket: Socket, refused: (declared: number, limit: number) => void): void {
  const guarded = client as GuardedClient;
  const parser = guarded._parser;
  if (parser === undefined || typeof parser.parse !== 'function') {
    throw new Error('aedes no longer exposes client._parser: the MQTT packet-size guard cannot be installed');
  }
  const parse = parser.parse.bind(parser);
  parser.parse = (buf: Buffer): number => {
    const left = parse(buf);
    // -1 until a header is read; once a packet is complete the parser resets it for the next one.
    const declared = parser.packet.length;
    const limit = guarded.connected === true ? MAX_PACKET_BYTES : MAX_CONNECT_PACKET_BYTES;
    if (declared > limit && !socket.destroyed) {
      refused(declared, limit);
      socket.destroy();
    }
    return left;
  };
}
