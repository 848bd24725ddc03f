/* Emulated twin of nucleo-f746 and disco-f746ng (QEMU mps2-an500, Cortex-M7): the code is
 * boards/common/mps2_board.c; this layer gives it its name and, in board.ld, the STM32F746's memory. */
#include "board.h"

const char board_name[] = "mps2-an500";
