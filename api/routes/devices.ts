import { appendDeviceAudit } from '../../core/devices/audit.js';
import type { DeviceRegistry } from '../../core/devices/registry.js';
import { CreateDeviceRequest, DeviceInfo, DeviceToken } from '../../schemas/http/devices.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute, type RequestContext } from '../route.js';

/** The API key prefix that changed the registry, for the audit event. */
const by = (ctx: RequestContext) => (ctx.principal ? { by: ctx.principal.prefix } : {});

export const deviceRoutes = (deps: ApiDeps, devices: DeviceRegistry) => {
  const idOf = (ctx: RequestContext) => ctx.params.id as string;
  const mustExist = async (id: string) => {
    const d = await devices.get(id);
    if (!d) throw new HttpProblem('GW_ERR_NOT_FOUND', `no device ${id}`);
    return d;
  };
  return [
    defineRoute({
      method: 'POST',
      path: '/api/v1/devices',
      operationId: 'createDevice',
      summary: 'Register a GPS unit or a driver phone; its token is shown once',
      tags: ['devices'],
      auth: { scope: 'devices' },
      body: CreateDeviceRequest,
      responses: { 201: { description: 'registered', schema: DeviceToken }, 409: { description: 'the id exists' } },
      handle: async (ctx) => {
        const created = await devices.create({
          id: ctx.body.id,
          ...(ctx.body.kind ? { kind: ctx.body.kind } : {}),
          ...(ctx.body.driverId ? { driverId: ctx.body.driverId } : {}),
          ...(ctx.body.name ? { name: ctx.body.name } : {}),
        });
        await appendDeviceAudit(deps.log, {
          type: 'device.registered',
          source: 'api',
          data: { deviceId: created.id, ...by(ctx), kind: created.kind, driverId: ctx.body.driverId ?? null },
        });
        return { status: 201, body: created, headers: { 'cache-control': 'no-store' } };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/devices/{id}',
      operationId: 'getDevice',
      summary: 'A device (never its token)',
      tags: ['devices'],
      auth: { scope: 'devices' },
      responses: { 200: { description: 'the device', schema: DeviceInfo } },
      handle: async (ctx) => ({ status: 200, body: await mustExist(idOf(ctx)) }),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/devices/{id}/rotate',
      operationId: 'rotateDeviceToken',
      summary: 'Issue a new token; the old one stops working',
      tags: ['devices'],
      auth: { scope: 'devices' },
      responses: { 200: { description: 'the new token', schema: DeviceToken } },
      handle: async (ctx) => {
        const d = await mustExist(idOf(ctx));
        const { token } = await devices.rotate(d.id);
        await appendDeviceAudit(deps.log, { type: 'device.token_rotated', source: 'api', data: { deviceId: d.id, ...by(ctx) } });
        return { status: 200, body: { id: d.id, token, kind: d.kind }, headers: { 'cache-control': 'no-store' } };
      },
    }),
    ...(['disable', 'enable'] as const).map((action) =>
      defineRoute({
        method: 'POST',
        path: `/api/v1/devices/{id}/${action}`,
        operationId: `${action}Device`,
        summary: action === 'disable' ? 'Refuse the device from now on' : 'Accept the device again',
        tags: ['devices'],
        auth: { scope: 'devices' },
        responses: { 200: { description: 'the device', schema: DeviceInfo } },
        handle: async (ctx) => {
          const id = idOf(ctx);
          await devices.setDisabled(id, action === 'disable');
          await appendDeviceAudit(deps.log, { type: `device.${action}d`, source: 'api', data: { deviceId: id, ...by(ctx) } });
          return { status: 200, body: await mustExist(id) };
        },
      }),
    ),
  ];
};
