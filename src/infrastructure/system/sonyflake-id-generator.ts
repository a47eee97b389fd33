import { randomInt } from 'node:crypto';
import type { Clock, IdGenerator } from '../../application/index.js';

/** Sonyflake, as ZITADEL uses it: 39 bits of 10 ms ticks since 2019-04-29, 8 bits of sequence, 16 of machine id. */
const EPOCH_MS = Date.UTC(2019, 3, 29);
const SEQUENCE_BITS = 8n;
const MACHINE_BITS = 16n;
const MAX_SEQUENCE = (1n << SEQUENCE_BITS) - 1n;

export class SonyflakeIdGenerator implements IdGenerator {
  private lastTick = -1n;
  private sequence = 0n;
  private readonly machineId: bigint;

  constructor(
    private readonly clock: Clock,
    machineId: number = randomInt(0, 1 << 16),
  ) {
    if (!Number.isInteger(machineId) || machineId < 0 || machineId >= 1 << 16) throw new RangeError('machineId must fit 16 bits');
    this.machineId = BigInt(machineId);
  }

  nextId(): string {
    const tick = BigInt(Math.floor((this.clock.now().getTime() - EPOCH_MS) / 10));
    if (tick > this.lastTick) {
      this.lastTick = tick;
      this.sequence = 0n;
    } else if (this.sequence < MAX_SEQUENCE) {
      this.sequence++;
    } else {
      // 256 ids within one tick: borrow the next tick, as sonyflake sleeps into it.
      this.lastTick++;
      this.sequence = 0n;
    }
    return ((this.lastTick << (SEQUENCE_BITS + MACHINE_BITS)) | (this.sequence << MACHINE_BITS) | this.machineId).toString();
  }
}
