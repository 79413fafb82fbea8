// uniwasm/qemu: the QEMU runner as a library (what `uniwasm boot` runs): boots
// an image with the serial console captured, and resolves to the guest's exit
// code. Wrong input (not an image, too little RAM, a taken port, QEMU's own
// errors) rejects with a UserError.

export {
  boot,
  qemuArgs,
  chooseAccel,
  parseHostfwd,
  ACCELS,
  EXIT_NO_CODE,
  EXIT_TIMEOUT,
  EXIT_SIGNAL,
  type Accel,
  type BootOptions,
  type BootResult,
  type Hostfwd,
} from "../qemu.ts";
export { UserError } from "../errors.ts";
