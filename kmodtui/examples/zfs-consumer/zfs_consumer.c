// SPDX-License-Identifier: GPL-2.0
/*
 * kmodtui example: a module that needs OpenZFS's exports the way Lustre's osd-zfs does
 * (seed 000: kmod-lustre-osd-zfs Requires ksym(dmu_tx_commit), ksym(txg_wait_synced),
 * ksym(dmu_objset_space) ...). It is never meant to do anything: it only names the symbols,
 * so that modpost records their CRCs from ZFS's Module.symvers (KBUILD_EXTRA_SYMBOLS) and rpm's
 * ksym generators turn them into Requires.
 *
 * The prototypes use opaque pointers: the CRCs in __versions come from the provider's
 * Module.symvers, not from these declarations, so ZFS's own headers are not needed.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/types.h>

struct dmu_tx;
struct dsl_pool;
struct objset;

void dmu_tx_commit(struct dmu_tx *tx);
void txg_wait_synced(struct dsl_pool *dp, u64 txg);
void dmu_objset_space(struct objset *os, u64 *refdbytesp, u64 *availbytesp,
		      u64 *usedobjsp, u64 *availobjsp);

static bool touch;
module_param(touch, bool, 0444);
MODULE_PARM_DESC(touch, "never set: the calls below exist only to be linked");

static int __init zfs_consumer_init(void)
{
	u64 refd, avail, used, availobj;

	if (touch) {	/* never true: the module only names its symbols */
		dmu_objset_space(NULL, &refd, &avail, &used, &availobj);
		txg_wait_synced(NULL, 0);
		dmu_tx_commit(NULL);
	}
	return 0;
}

static void __exit zfs_consumer_exit(void)
{
}

module_init(zfs_consumer_init);
module_exit(zfs_consumer_exit);
MODULE_LICENSE("CDDL");
MODULE_AUTHOR("kmodtui");
MODULE_DESCRIPTION("kmodtui example: uses OpenZFS exports like Lustre's osd-zfs");
MODULE_VERSION("1.0");
