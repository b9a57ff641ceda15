/* Bounds on what one user's IMAP session can make Dovecot 2.3 keep on disk.
 *
 * Folders: Dovecot 2.4's quota plugin caps them (quota_mailbox_count); Debian bookworm's
 * 2.3.19 does not, and each Maildir++ folder costs the mail volume four directories and
 * Dovecot's index files (some 25 KiB): a student's loop of CREATEs filled the host's disk
 * at ~10 GB an hour. CREATE past the limit fails as 2.4 fails it, "NO [LIMIT] ...".
 * Keywords: every new name (STORE +FLAGS (name ...)) is kept in the mailbox's index for
 * good; a loop of them grew it by ~1 GB an hour. Past the limit the mailbox takes no new
 * keyword (Dovecot's own switch: PERMANENTFLAGS loses \*, STORE of a new name fails); the
 * ones it has stay usable. A command or a session under way may go past it by what it
 * names at once (one command line: at most 64 KiB of names).
 * What exists is untouched: folders may be renamed, deleted, read and filled as ever.
 *
 * Settings (plugin { }), unset or 0 for no limit:
 *   labctl_mailbox_count = N      folders of a user, INBOX included
 *   labctl_mailbox_keywords = N   keywords of one folder */
#include "lib.h"
#include "module-context.h"
#include "mail-user.h"
#include "mail-index.h"
#include "mail-storage-private.h"
#include "mailbox-list-iter.h"

#define LIMITS_CONTEXT_REQUIRE(obj) MODULE_CONTEXT_REQUIRE(obj, labctl_limits_storage_module)

static MODULE_CONTEXT_DEFINE_INIT(labctl_limits_storage_module, &mail_storage_module_register);

const char *labctl_limits_plugin_version = DOVECOT_ABI_VERSION;
void labctl_limits_plugin_init(struct module *module);
void labctl_limits_plugin_deinit(void);

static unsigned int limit_setting(struct mailbox *box, const char *name)
{
	const char *value = mail_user_plugin_getenv(box->storage->user, name);
	unsigned int limit;

	if (value == NULL || str_to_uint(value, &limit) < 0)
		return 0;
	return limit;
}

/* The mailboxes of the box's namespace that exist (INBOX included), or -1. */
static int existing_mailboxes(struct mailbox *box, unsigned int *count_r)
{
	struct mailbox_list_iterate_context *iter;
	const struct mailbox_info *info;
	unsigned int count = 0;

	iter = mailbox_list_iter_init(box->list, "*", MAILBOX_LIST_ITER_RETURN_NO_FLAGS);
	while ((info = mailbox_list_iter_next(iter)) != NULL) {
		if ((info->flags & (MAILBOX_NONEXISTENT | MAILBOX_NOSELECT)) == 0)
			count++;
	}
	if (mailbox_list_iter_deinit(&iter) < 0)
		return -1;
	*count_r = count;
	return 0;
}

static int limits_create_box(struct mailbox *box, const struct mailbox_update *update, bool directory)
{
	union mailbox_module_context *lbox = LIMITS_CONTEXT_REQUIRE(box);
	unsigned int limit = limit_setting(box, "labctl_mailbox_count"), count;

	if (limit > 0) {
		if (existing_mailboxes(box, &count) < 0) {
			mail_storage_copy_list_error(box->storage, box->list);
			return -1;
		}
		if (count >= limit) {
			mail_storage_set_error(box->storage, MAIL_ERROR_LIMIT,
				t_strdup_printf("Maximum number of mailboxes reached (%u)", limit));
			return -1;
		}
	}
	return lbox->super.create_box(box, update, directory);
}

/* Dovecot checks the switch at each new keyword; it is set from what the index holds. */
static void limit_keywords(struct mailbox *box)
{
	unsigned int limit = limit_setting(box, "labctl_mailbox_keywords");

	if (limit > 0 && box->opened && array_count(mail_index_get_keywords(box->index)) >= limit)
		box->disallow_new_keywords = TRUE;
}

static int limits_transaction_commit(struct mailbox_transaction_context *t,
				     struct mail_transaction_commit_changes *changes_r)
{
	struct mailbox *box = t->box;
	union mailbox_module_context *lbox = LIMITS_CONTEXT_REQUIRE(box);
	int ret = lbox->super.transaction_commit(t, changes_r);

	limit_keywords(box);
	return ret;
}

static void limits_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	union mailbox_module_context *lbox;

	lbox = p_new(box->pool, union mailbox_module_context, 1);
	lbox->super = *v;
	box->vlast = &lbox->super;
	v->create_box = limits_create_box;
	v->transaction_commit = limits_transaction_commit;
	MODULE_CONTEXT_SET_SELF(box, labctl_limits_storage_module, lbox);
}

static struct mail_storage_hooks limits_hooks = {
	.mailbox_allocated = limits_mailbox_allocated,
	.mailbox_opened = limit_keywords,
};

void labctl_limits_plugin_init(struct module *module)
{
	mail_storage_hooks_add(module, &limits_hooks);
}

void labctl_limits_plugin_deinit(void)
{
	mail_storage_hooks_remove(&limits_hooks);
}
