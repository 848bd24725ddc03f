/* Emulated twin of nucleo-f767zi (QEMU mps2-an500, Cortex-M7): the code is boards/common/mps2_board.c; this
 * layer gives it its name and, in board.ld, the STM32F767ZI's memory. */
#include "board.h"

const char board_name[] = "mps2-an500-f767";
