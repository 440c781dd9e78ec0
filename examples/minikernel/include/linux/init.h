/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Section markers.  __init code is discarded after boot; __meminit code stays when memory
 * hotplug is configured (it is called again for every hot-added range); __ref tells modpost
 * that a reference from normal text into init text is intentional.
 */
#ifndef _LINUX_INIT_H
#define _LINUX_INIT_H

#include <linux/compiler.h>

#define __init		__section(".init.text")
#define __initdata	__section(".init.data")
#define __exit		__section(".exit.text")
#define __meminit	__section(".meminit.text")
#define __meminitdata	__section(".meminit.data")
#define __ref		__section(".ref.text") noinline

typedef int (*initcall_t)(void);
typedef void (*exitcall_t)(void);

#define __define_initcall(fn, id) \
	static initcall_t __initcall_##fn##id __used __section(".initcall" #id ".init") = fn

#define device_initcall(fn)	__define_initcall(fn, 6)
#define module_init(fn)		device_initcall(fn)
#define module_exit(fn) \
	static exitcall_t __exitcall_##fn __used __section(".exitcall.exit") = fn

#endif /* _LINUX_INIT_H */
