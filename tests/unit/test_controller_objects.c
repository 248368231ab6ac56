/* Pure parts of the controller's objects.c: when a running engine's member
 * list has lost a member (members_lost), which makes the controller restart
 * the run on the pods as they are now. */
#include <stddef.h>

#include "objects.h"
#include "testlib.h"

static void test_members_lost(void)
{
	const char *three = "127.31.0.1:6379\n127.31.0.2:6379\n127.31.0.3:6379\n";

	CHECK(!members_lost(three, three));
	/* order does not matter; a list that only grows lost nobody (scale-up) */
	CHECK(!members_lost(three, "127.31.0.3:6379\n127.31.0.1:6379\n127.31.0.2:6379\n"));
	CHECK(!members_lost(three, "127.31.0.1:6379\n127.31.0.2:6379\n127.31.0.3:6379\n127.31.0.4:6379\n"));
	/* a pod on a new address, or one fewer */
	CHECK(members_lost(three, "127.31.0.1:6379\n127.31.0.2:6379\n127.31.0.9:6379\n"));
	CHECK(members_lost(three, "127.31.0.1:6379\n127.31.0.2:6379\n"));
	/* a prefix of another address is not that address */
	CHECK(members_lost("127.31.0.1:6379\n", "127.31.0.1:63790\n127.31.0.11:6379\n"));
	CHECK(members_lost("127.31.0.1:63\n", "127.31.0.1:6379\n"));
	/* no trailing newline, empty lines, NULLs */
	CHECK(!members_lost("127.31.0.1:6379", "127.31.0.1:6379\n"));
	CHECK(!members_lost("127.31.0.1:6379\n\n", "127.31.0.1:6379"));
	CHECK(!members_lost(NULL, three));
	CHECK(!members_lost("", NULL));
	CHECK(members_lost(three, NULL));
}

int main(void)
{
	test_members_lost();
	return TEST_DONE();
}
