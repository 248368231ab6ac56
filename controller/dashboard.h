/* The dashboard page (controller/dashboard.html), embedded at build time. */
#ifndef AUTOSHARD_CONTROLLER_DASHBOARD_H
#define AUTOSHARD_CONTROLLER_DASHBOARD_H
#include <stddef.h>
extern const unsigned char dashboard_html[];
extern const size_t dashboard_html_len;
#endif
