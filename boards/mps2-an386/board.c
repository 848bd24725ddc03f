/* Emulated twin of nucleo-l4r5zi (QEMU mps2-an386, Cortex-M4): the code is boards/common/mps2_board.c; this
 * layer gives it its name and, in board.ld, the STM32L4R5ZI's memory. */
#include "board.h"

const char board_name[] = "mps2-an386";
