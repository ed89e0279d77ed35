import type { DeviceRegistry } from '../../core/devices/registry.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import { findDeviceCommand } from '../../core/readModels/deviceCommands.js';
import {
  DEVICE_COMMAND_REQUESTED,
  type DeviceCommandRequested,
  deviceCommandSubject,
} from '../../schemas/events/deviceCommand.js';
import { DeviceCommandStatus, SendDeviceCommandRequest } from '../../schemas/http/deviceCommands.js';
import { CommandAccepted } from '../../schemas/http/problem.js';
import { commandId } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute } from '../route.js';

const PAYLOAD_MAX_BYTES = 16 * 1024;
const DEFAULT_TTL_SECONDS = 86_400;

/** Downlink: the command becomes an event; the ingest process holding the device delivers it. */
export const deviceCommandRoutes = (deps: ApiDeps, devices: DeviceRegistry) => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/devices/{id}/commands',
    operationId: 'sendDeviceCommand',
    summary: 'Send a command to a device (now if connected, else when it connects, up to ttlSeconds)',
    tags: ['devices'],
    auth: { scope: 'devices' },
    body: SendDeviceCommandRequest,
    idempotent: true,
    responses: { 202: { description: 'queued', schema: CommandAccepted } },
    handle: async (ctx) => {
      const deviceId = ctx.params.id as string;
      if (!(await devices.get(deviceId))) throw new HttpProblem('GW_ERR_NOT_FOUND', `no device ${deviceId}`);
      if (JSON.stringify(ctx.body.payload ?? null).length > PAYLOAD_MAX_BYTES) {
        throw new HttpProblem('GW_ERR_VALIDATION', `the payload exceeds ${PAYLOAD_MAX_BYTES} bytes`, {
          errors: [{ pointer: '/payload', field: 'payload', detail: `at most ${PAYLOAD_MAX_BYTES} bytes of JSON` }],
        });
      }
      const principal = ctx.principal as NonNullable<typeof ctx.principal>;
      const id = commandId(principal.keyId, ctx.headers['idempotency-key']);
      const data: DeviceCommandRequested = {
        deviceId,
        command: ctx.body.command,
        expiresAt: Date.now() + (ctx.body.ttlSeconds ?? DEFAULT_TTL_SECONDS) * 1000,
        requestedBy: principal.prefix,
        ...(ctx.body.payload === undefined ? {} : { payload: ctx.body.payload }),
      };
      const subject = deviceCommandSubject(deviceId);
      await deps.log.append(subject, newEvent({ id, type: DEVICE_COMMAND_REQUESTED, subject, source: 'api', data }), {
        msgId: id,
      });
      return { status: 202, body: { id, status: 'queued' } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/devices/{id}/commands/{commandId}',
    operationId: 'getDeviceCommand',
    summary: 'A downlink command and how far it got',
    tags: ['devices'],
    auth: { scope: 'devices' },
    responses: { 200: { description: 'the command', schema: DeviceCommandStatus } },
    handle: async (ctx) => {
      const row = await findDeviceCommand(deps.sql, ctx.params.id as string, ctx.params.commandId as string);
      if (!row) throw new HttpProblem('GW_ERR_NOT_FOUND', `no command ${ctx.params.commandId}`);
      const expired = row.status === 'queued' && row.expires_at.getTime() < Date.now();
      return {
        status: 200,
        body: {
          id: row.id,
          deviceId: row.device_id,
          command: row.command,
          payload: row.payload,
          status: expired ? 'expired' : row.status,
          requestedAt: row.requested_at.toISOString(),
          expiresAt: row.expires_at.toISOString(),
          deliveredAt: row.delivered_at?.toISOString() ?? null,
          ackedAt: row.acked_at?.toISOString() ?? null,
        },
      };
    },
  }),
];
