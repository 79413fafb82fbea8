// PCI: configuration access, enumeration, BARs, capabilities.
export { PciConfig, PortIoConfig, EcamConfig } from "./config";
export * from "./pci";
