/*
 * banned.h: functions that are easy to misuse (git's banned.h). Including this header turns a
 * call to any of them into a compile error; use the bounded alternative named beside it.
 */
#ifndef SL_BANNED_H
#define SL_BANNED_H

#define SL_BANNED(func) sorry_##func##_is_banned

#undef strcpy
#define strcpy(x, y) SL_BANNED(strcpy) /* use sl_strlcpy */
#undef strcat
#define strcat(x, y) SL_BANNED(strcat) /* use snprintf */
#undef strncpy
#define strncpy(x, y, n) SL_BANNED(strncpy) /* use sl_strlcpy */
#undef sprintf
#define sprintf(...) SL_BANNED(sprintf) /* use snprintf */
#undef vsprintf
#define vsprintf(...) SL_BANNED(vsprintf) /* use vsnprintf */
#undef strtok
#define strtok(x, y) SL_BANNED(strtok) /* use strtok_r or a hand loop */
#undef atoi
#define atoi(x) SL_BANNED(atoi) /* use sl_parse_i64 */
#undef atol
#define atol(x) SL_BANNED(atol) /* use sl_parse_i64 */
#undef gmtime
#define gmtime(t) SL_BANNED(gmtime) /* use gmtime_r */
#undef localtime
#define localtime(t) SL_BANNED(localtime) /* use gmtime_r: the service speaks UTC */

#endif
