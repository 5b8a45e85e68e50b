// Data objects (spec §3.13; role keyManagementToken): small named values stored sealed beside the keys.
import { Type, type Static } from '@sinclair/typebox';
import { WardenError } from '../server/errors.ts';
import type { RouteGroup } from './route.ts';
import { decodeB64, errorResponses, hasControlChars } from './wire.ts';

const ROLE = ['keyManagementToken'] as const;
const TAGS = ['Data objects'];
const MAX_VALUE = 64 * 1024;

const Attributes = Type.Object({
  private: Type.Optional(Type.Union([Type.Boolean(), Type.Null()], { description: 'default false' })),
  modifiable: Type.Optional(Type.Union([Type.Boolean(), Type.Null()], { description: 'default true' })),
  destroyable: Type.Optional(Type.Union([Type.Boolean(), Type.Null()], { description: 'default true' })),
});
const DataObjectBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 255 }),
    value: Type.String({ description: 'Base64, at most 64 KiB decoded', maxLength: 90000 }),
    attributes: Type.Optional(Type.Union([Attributes, Type.Null()])),
  },
  { examples: [{ name: 'config-blob', value: 'aGVsbG8=', attributes: { private: true, destroyable: true } }] },
);
const DataObjectView = Type.Object({
  name: Type.String(),
  value: Type.String(),
  attributes: Type.Object({ private: Type.Boolean(), modifiable: Type.Boolean(), destroyable: Type.Boolean() }),
});
const NameParams = Type.Object({ dataObjectName: Type.String({ minLength: 1, maxLength: 1024 }) });

export const dataObjectRoutes: RouteGroup = () => [
  {
    method: 'POST', url: '/v1/dataObject', roles: ROLE, operationId: 'createDataObject', tags: TAGS,
    summary: 'Store a data object (sealed at rest)',
    body: DataObjectBody, response: { 201: DataObjectView, ...errorResponses },
    handler: async (req, reply, s) => {
      const body = req.body as Static<typeof DataObjectBody>;
      req.auditLabel = body.name;
      if (body.name.trim() === '' || hasControlChars(body.name)) throw new WardenError(616, 'name must be printable and not empty');
      const value = decodeB64('value', body.value, { code: 616 });
      if (value.length > MAX_VALUE) throw new WardenError(616, `value must be at most ${MAX_VALUE} bytes`);
      const a = body.attributes ?? {};
      const obj = await s.keystore.putDataObject({
        name: body.name,
        value,
        attributes: { private: a.private ?? false, modifiable: a.modifiable ?? true, destroyable: a.destroyable ?? true },
      });
      reply.code(201);
      return { name: obj.name, value: obj.value.toString('base64'), attributes: obj.attributes };
    },
  },
  {
    method: 'GET', url: '/v1/dataObject/:dataObjectName', roles: ROLE, operationId: 'getDataObject', tags: TAGS,
    summary: 'Read a data object',
    params: NameParams, response: { 200: DataObjectView, ...errorResponses },
    handler: async (req, _reply, s) => {
      const { dataObjectName } = req.params as Static<typeof NameParams>;
      req.auditLabel = dataObjectName;
      const obj = await s.keystore.getDataObject(dataObjectName);
      return { name: obj.name, value: obj.value.toString('base64'), attributes: obj.attributes };
    },
  },
  {
    method: 'DELETE', url: '/v1/dataObject/:dataObjectName', roles: ROLE, operationId: 'deleteDataObject', tags: TAGS,
    summary: 'Delete a destroyable data object',
    params: NameParams, response: { 200: Type.Object({}), ...errorResponses },
    handler: async (req, _reply, s) => {
      const { dataObjectName } = req.params as Static<typeof NameParams>;
      req.auditLabel = dataObjectName;
      await s.keystore.deleteDataObject(dataObjectName);
      return {};
    },
  },
];
