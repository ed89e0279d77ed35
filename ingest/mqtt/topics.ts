/** The topics of the MQTT contract (ARCHITECTURE.md): a device publishes and subscribes only under its own id. */
export const locationTopic = (deviceId: string) => `v1/devices/${deviceId}/location`;
export const commandsTopic = (deviceId: string) => `v1/devices/${deviceId}/commands`;
export const errorsTopic = (deviceId: string) => `v1/devices/${deviceId}/errors`;
