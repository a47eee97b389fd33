import { Instance, instanceStreamId, type SetUpInstance } from '../../domain/index.js';
import { handleCommand } from '../command-handler.js';
import type { EventStore, GlobalPosition } from '../ports/event-store.js';
import type { Clock, IdGenerator } from '../ports/services.js';

/** Creates an instance with its domains; used for the first instance of an installation and in tests. */
export class SetUpInstanceUseCase {
  constructor(private readonly deps: { readonly events: EventStore; readonly clock: Clock; readonly ids: IdGenerator }) {}

  async execute(input: { name: string; domains: readonly string[]; instanceId?: string; editorUserId?: string }): Promise<{
    instanceId: string;
    position: GlobalPosition;
  }> {
    const instanceId = input.instanceId ?? this.deps.ids.nextId();
    const now = this.deps.clock.now();
    const command: SetUpInstance = { type: 'SetUpInstance', instanceId, name: input.name, domains: input.domains, now };
    const commandId = `setup-instance-${instanceId}`;
    const result = await handleCommand(this.deps.events, Instance, instanceStreamId(instanceId), command, {
      instanceId,
      editorUserId: input.editorUserId ?? 'SYSTEM',
      commandId,
      correlationId: commandId,
      now,
    });
    return { instanceId, position: result.append.position };
  }
}
