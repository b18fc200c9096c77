package demo;

/** Called by {@link App}; {@code explode} always throws. */
public class Helper {
    public int square(int x) {
        return x * x;
    }

    public void explode(String why) {
        throw new IllegalStateException("boom: " + why);
    }
}
