/** What services need from the device gateway: push commands and grants to one device, and know its presence. */
export interface DeviceDownlink {
  sendCommand(deviceId: string, token: string): Promise<void>;
  sendGrants(deviceId: string, message: { grants?: string[]; revocations?: string }): Promise<void>;
  isOnline(deviceId: string): boolean;
}
