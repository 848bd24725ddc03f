/* Arm MPS2+ with the AN500 FPGA image (Cortex-M7 at 25 MHz), the board QEMU's mps2-an500 models. The board API
 * is boards/common/mps2_board.c, the emulated twins' code, because this board is the machine they emulate: the
 * same image runs on the FPGA and in QEMU. This layer names it and, in board.ld, gives it its 4 + 4 MB.
 * On the FPGA no debugger answers board_halt's semihosting BKPT: it only runs after firmware_fault() has sent
 * its report, inside the fault handler, where a BKPT locks the core up, so the board stops as it should. */
#include "board.h"

const char board_name[] = "mps2plus-an500";
