/**
 * One reactor's topic membership: each topic's members and each member's topics, kept both
 * ways so a publish finds the members and a close ends every membership at once. Only
 * connections that joined a topic are in it: a server whose application uses no topics keeps
 * two empty maps and pays nothing per connection.
 */
export class TopicMembers<C> {
  private readonly byTopic = new Map<string, Set<C>>();
  private readonly byMember = new Map<C, Set<string>>();

  /**
   * @param firstJoined the first member of `topic` joined (this reactor now has members)
   * @param lastLeft the last member of `topic` left
   */
  constructor(
    private readonly firstJoined: (topic: string) => void,
    private readonly lastLeft: (topic: string) => void,
  ) {}

  /** @returns false when `member` already was one */
  join(member: C, topic: string): boolean {
    let topics = this.byMember.get(member);
    if (topics === undefined) {
      topics = new Set();
      this.byMember.set(member, topics);
    }
    if (topics.has(topic)) return false;
    topics.add(topic);
    let members = this.byTopic.get(topic);
    if (members === undefined) {
      members = new Set();
      this.byTopic.set(topic, members);
      this.firstJoined(topic);
    }
    members.add(member);
    return true;
  }

  /** @returns false when `member` was none */
  leave(member: C, topic: string): boolean {
    const topics = this.byMember.get(member);
    if (topics === undefined || !topics.delete(topic)) return false;
    if (topics.size === 0) this.byMember.delete(member);
    this.removeMember(member, topic);
    return true;
  }

  /** Ends every membership of `member` (it closed). */
  leaveAll(member: C): void {
    if (this.byMember.size === 0) return;
    const topics = this.byMember.get(member);
    if (topics === undefined) return;
    this.byMember.delete(member);
    for (const topic of topics) this.removeMember(member, topic);
  }

  /** The topics `member` belongs to. */
  topicsOf(member: C): ReadonlySet<string> {
    return this.byMember.get(member) ?? NO_TOPICS;
  }

  /** The members of `topic` here, if any. */
  membersOf(topic: string): ReadonlySet<C> | undefined {
    return this.byTopic.get(topic);
  }

  /** The topics with members here. */
  topics(): IterableIterator<string> {
    return this.byTopic.keys();
  }

  private removeMember(member: C, topic: string): void {
    const members = this.byTopic.get(topic);
    if (members === undefined) return;
    members.delete(member);
    if (members.size === 0) {
      this.byTopic.delete(topic);
      this.lastLeft(topic);
    }
  }
}

const NO_TOPICS: ReadonlySet<string> = new Set();
