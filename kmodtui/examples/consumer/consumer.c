// SPDX-License-Identifier: GPL-2.0
/* kmodtui example: a module that needs the provider's symbols and core kernel ones. */
#include <linux/module.h>
#include <linux/kernel.h>
/* Linux 6.13 made symbol namespaces string literals (EXPORT_SYMBOL_NS(sym, "NS"),
 * MODULE_IMPORT_NS("NS")); older kernels take a bare name and stringify it. */
#include <linux/version.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
#define KMODTUI_NS "KMODTUI_NS"
#endif
#include <linux/slab.h>

int provider_fn(int x);
int provider_gpl_fn(int x);
int provider_ns_fn(int x);

static int __init consumer_init(void)
{
	int *buf = kmalloc(sizeof(*buf), GFP_KERNEL);

	if (!buf)
		return -ENOMEM;
	*buf = provider_fn(1) + provider_gpl_fn(2) + provider_ns_fn(3);
	pr_info("kmodtui consumer: %d\n", *buf);
	kfree(buf);
	return 0;
}

static void __exit consumer_exit(void)
{
	pr_info("kmodtui consumer unloaded\n");
}

module_init(consumer_init);
module_exit(consumer_exit);
MODULE_IMPORT_NS(KMODTUI_NS);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodtui");
MODULE_DESCRIPTION("kmodtui example consumer: needs the provider's exports");
MODULE_VERSION("1.0");
