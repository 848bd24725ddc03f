/* Board layer of the NUCLEO-F746ZG (STM32F746ZG, Cortex-M7; board manual UM1974, reference manual RM0385).
 * Clock, caches and console: boards/common/nucleo144_f7.c; the rest: boards/common/stm32_board.c. */
#include "board.h"

const char board_name[] = "nucleo-f746";
