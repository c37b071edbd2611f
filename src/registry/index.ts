/** OCI registry access: the client port the executor and resync use, its HTTP implementation, settings. */

export { HttpOciClient, RegistryError, MANIFEST_ACCEPT, parseImage } from './client.js';
export type { OciClient, OciClientOptions, Credentials } from './client.js';
export { registryClientOptions, parseDockerConfig } from './settings.js';
export { resync, pickTag } from './resync.js';
export type { ResyncImage, ResyncResult, ResyncNote, ResyncOptions } from './resync.js';
