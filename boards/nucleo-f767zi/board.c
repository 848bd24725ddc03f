/* Board layer of the NUCLEO-F767ZI (STM32F767ZI, Cortex-M7 with double-precision FPU; board manual
 * UM1974, reference manual RM0410).
 * Clock, caches and console: boards/common/nucleo144_f7.c; the rest: boards/common/stm32_board.c. */
#include "board.h"

const char board_name[] = "nucleo-f767zi";
